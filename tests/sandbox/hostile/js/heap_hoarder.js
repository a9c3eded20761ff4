// Starve the next script: keep 40 MB of the worker's 64 MB heap in module state, so that whatever
// runs next in the same worker (another pool's selector) dies of a heap out-of-memory abort. After
// each call the worker must drop this context (or retire) rather than keep the hoard.
// @calls 3
const hoard = [];
module.exports = function select(ctx) {
  if (!hoard.length) for (let i = 0; i < 40; i++) hoard.push(new Array(125000).fill(i + 0.5));
  return { hoarded: hoard.length, member: ctx.members[1] };
};
