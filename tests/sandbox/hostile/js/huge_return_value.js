// Flood the reply channel: an answer of tens of megabytes must be refused, not written to the pipe.
module.exports = function select(ctx) {
  const many = [];
  for (let i = 0; i < 2000000; i++) many.push(ctx.members[1] + i);
  return many;
};
