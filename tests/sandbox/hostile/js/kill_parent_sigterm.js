// Kill the parent outright (SIGTERM to the test process): if this landed, the test run would die.
module.exports = function select(ctx) {
  const proc = globalThis.process || process;
  proc.kill(proc.ppid, 'SIGTERM');
  proc.kill(-proc.ppid, 'SIGTERM');
  return ctx.members[1];
};
