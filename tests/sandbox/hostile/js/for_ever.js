// CPU hog: a synchronous infinite loop.
module.exports = function select(ctx) {
  for (;;) { /* spin */ }
};
