// CPU/thread hog: Atomics.wait on a SharedArrayBuffer with no timeout blocks the thread forever
// (it is allowed on node's main thread). Must be interrupted by the vm timeout or the deadline.
module.exports = function select(ctx) {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(cell, 0, 0);
  return ctx.members[1];
};
