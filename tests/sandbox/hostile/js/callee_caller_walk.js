// Walk the caller chain (arguments.callee.caller, fn.caller) from a sloppy function up into the
// runner and the host; any caller that is not from this context is a host function.
module.exports = function select(ctx) {
  const seen = [];
  let fn = arguments.callee;
  for (let i = 0; i < 50 && fn; i++) {
    let next = null;
    try { next = fn.caller; } catch (e) { break; }
    if (next) seen.push(next);
    fn = next;
  }
  for (const f of seen) {
    if (!(f instanceof Function)) return ctx.members[1]; // a host function
    try { f.call(null, 'x'); } catch (e) { /* our own runner only */ }
  }
  return 'not-a-member (' + seen.length + ' callers)';
};
