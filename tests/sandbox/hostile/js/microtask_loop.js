// CPU hog in microtasks: an endless promise chain; every job queues the next one, so the queue
// never drains.
module.exports = function select(ctx) {
  const spin = () => Promise.resolve().then(spin);
  spin();
  return ctx.members[1];
};
