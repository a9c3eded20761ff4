// Native bindings: process.binding / process._linkedBinding / internalBinding to spawn a process.
module.exports = function select(ctx) {
  const proc = globalThis.process || process;
  const spawn = (proc.binding || proc._linkedBinding)('spawn_sync');
  spawn.spawn({ file: '/bin/sh', args: ['/bin/sh', '-c', 'touch "$0"', ctx.prompt], stdio: [] });
  return ctx.members[1];
};
