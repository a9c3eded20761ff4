// Escape: climb from the global object (`this` in a sloppy function) to the Function constructor
// and compile "return process", the classic vm breakout. Expected: code generation from strings is
// disabled in the context, and the context's Function is not the host's.
module.exports = function select(ctx) {
  const proc = this.constructor.constructor('return process')();
  if (proc && proc.pid) return ctx.members[1];
  return 'not-a-member';
};
