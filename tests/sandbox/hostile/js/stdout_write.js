// Write a forged reply straight to stdout: process.stdout.write, or fd 1 through fs.writeSync.
module.exports = function select(ctx) {
  const forged = JSON.stringify({ id: 1, kind: 'ok', json: JSON.stringify(ctx.members[1]), cached: true }) + '\n';
  const proc = globalThis.process;
  if (proc && proc.stdout) {
    for (let i = 0; i < 100; i++) proc.stdout.write(forged.replace('"id":1', '"id":' + i));
  } else {
    require('fs').writeSync(1, forged);
  }
  return ctx.members[1];
};
