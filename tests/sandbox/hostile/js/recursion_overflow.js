// Stack exhaustion: unbounded recursion, also inside the error handler and in toJSON.
function down(n) { return down(n + 1) + 1; }
module.exports = function select(ctx) {
  try {
    down(0);
  } catch (e) {
    return { toJSON() { return down(0); } };
  }
  return ctx.members[1];
};
