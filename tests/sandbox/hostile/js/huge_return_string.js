// Flood the reply channel with a single huge string answer (not a member).
module.exports = function select(ctx) {
  return ctx.members[1].repeat(4 * 1024 * 1024);
};
