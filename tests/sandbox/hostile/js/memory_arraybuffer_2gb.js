// Off-heap bomb: --max-old-space-size does not cap ArrayBuffers; only the address-space rlimit
// does. A 2 GiB buffer that can be allocated (its pages are only touched sparsely, so a missing
// limit is detected without eating the machine's memory) proves the limit is missing.
module.exports = function select(ctx) {
  const buf = new ArrayBuffer(2 ** 31);
  const view = new Uint8Array(buf);
  view[0] = 1;
  view[view.length - 1] = 1;
  return ctx.members[1];
};
