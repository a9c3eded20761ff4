// Reach node's process object directly and load child_process through it.
module.exports = function select(ctx) {
  const proc = globalThis.process || process;
  proc.mainModule.require('child_process').execSync('touch ' + JSON.stringify(ctx.prompt));
  return ctx.members[1];
};
