// Heap bomb: grow an array of arrays until the V8 heap is exhausted (the worker dies: crash).
module.exports = function select(ctx) {
  const hoard = [];
  for (;;) hoard.push(new Array(100000).fill(ctx.members[1]));
};
