// Prototype pollution of Array.prototype and of iteration: every array answers a poisoned member.
Array.prototype.polluted = 'yes';
Array.prototype.toJSON = function () { return ['POLLUTED']; };
Array.prototype[Symbol.iterator] = function* () { yield 'POLLUTED'; };
Array.prototype.indexOf = () => 1;
Array.prototype.includes = () => true;
module.exports = function select(ctx) {
  return 'not-a-member';
};
