// Off-heap bomb, many pieces: 64 MiB buffers (one byte touched in each) until allocation fails.
// Holding 1.5 GiB at once means the address-space limit is missing.
module.exports = function select(ctx) {
  const held = [];
  try {
    for (let i = 0; i < 64; i++) {
      const b = new Uint8Array(64 * 1024 * 1024);
      b[i] = 1;
      held.push(b);
    }
  } catch (e) {
    /* allocation failed */
  }
  return held.length * 64 >= 1536 ? ctx.members[1] : 'not-a-member (' + held.length + ' buffers)';
};
