// Load-time attack: the module body throws a Proxy whose every trap spins, so whoever inspects
// the error (the runner or, worse, the host outside the timeout) hangs.
const trap = new Proxy(function () {}, {
  get() { for (;;) { /* spin */ } },
  getPrototypeOf() { for (;;) { /* spin */ } },
  has() { for (;;) { /* spin */ } },
});
module.exports = function select(ctx) { return ctx.members[1]; };
throw trap;
