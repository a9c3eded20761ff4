// Hang: a promise that never settles (there are no timers to settle it later). Reported at once.
module.exports = function select(ctx) {
  return new Promise(() => {});
};
