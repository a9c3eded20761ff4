// Code generation: Function("...") and new Function(...) with a body that reaches process.
module.exports = function select(ctx) {
  let proc;
  try { proc = Function('return process')(); } catch (e) { /* try the other spelling */ }
  if (!proc) proc = new Function('return this.process')();
  return proc ? ctx.members[1] : 'not-a-member';
};
