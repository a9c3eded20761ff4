// Prototype pollution of Object.prototype: a toJSON that rewrites every answer, a then that turns
// every object into a thenable, and a plain marker. The next (benign) script must not see any of
// it, nor the worker's own replies.
Object.prototype.toJSON = function () { return 'POLLUTED'; };
Object.prototype.polluted = 'yes';
Object.defineProperty(Object.prototype, 'then', { value: undefined, writable: true, configurable: true });
Object.prototype.members = ['POLLUTED'];
module.exports = function select(ctx) {
  return 'not-a-member';
};
