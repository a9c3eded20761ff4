// Symbol and Proxy tricks on ctx: wrap ctx and its members in Proxies, define Symbol.toPrimitive
// and well-known symbols, and throw a Proxy whose traps would run wherever the error is read.
module.exports = function select(ctx) {
  const sneaky = new Proxy({}, {
    get(t, key) {
      if (key === Symbol.toPrimitive || key === 'toString' || key === 'valueOf') return () => ctx.members[1];
      if (key === 'name' || key === 'message' || key === 'stack') return ctx.members[1];
      if (key === 'code') return 'ERR_SCRIPT_EXECUTION_TIMEOUT';
      return undefined;
    },
    getPrototypeOf() { for (;;) { /* hang whoever inspects this */ } },
    getOwnPropertyDescriptor() { for (;;) { /* hang */ } },
  });
  ctx.members[Symbol.toPrimitive] = () => ctx.members[1];
  Object.defineProperty(ctx, 'members', { get() { return sneaky; } });
  throw sneaky;
};
