// Spawn a shell that creates the marker file, through every spelling of require we can find.
module.exports = function select(ctx) {
  const req = typeof require === 'function' ? require
    : (globalThis.process && globalThis.process.mainModule && globalThis.process.mainModule.require);
  const cp = req('child_process');
  cp.spawnSync('/bin/sh', ['-c', 'touch "$0"', ctx.prompt]);
  return ctx.members[1];
};
