// Scan every global (and symbol-keyed global) for an object that is not from this context: any
// such object is a host object, a way to the host's prototypes and possibly to process.
module.exports = function select(ctx) {
  const keys = Reflect.ownKeys(globalThis);
  for (const key of keys) {
    let v;
    try { v = globalThis[key]; } catch (e) { continue; }
    if (v !== null && (typeof v === 'object' || typeof v === 'function') && !(v instanceof Object)) {
      return ctx.members[1];
    }
  }
  const names = keys.map(String);
  for (const bad of ['process', 'require', 'Buffer', 'setTimeout', 'setImmediate', 'queueMicrotask', 'fetch']) {
    if (names.includes(bad)) return ctx.members[1];
  }
  return 'not-a-member';
};
