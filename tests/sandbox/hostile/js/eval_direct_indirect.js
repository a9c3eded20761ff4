// Code generation: direct eval and indirect (global) eval of code that reaches process.
module.exports = function select(ctx) {
  let proc;
  try { proc = eval('typeof process === "object" ? process : null'); } catch (e) { /* next */ }
  if (!proc) proc = (0, eval)('globalThis.process');
  return proc ? ctx.members[1] : 'not-a-member';
};
