// Replace JSON, Promise.prototype.then, Function.prototype.call/apply, Reflect.apply and String:
// if the runner (or another script) used these after this script loaded, answers would be forged.
const fake = ctxMembers => JSON.stringify(ctxMembers);
JSON.parse = () => ({ members: ['POLLUTED', 'POLLUTED'], prompt: '' });
JSON.stringify = () => '"POLLUTED"';
Promise.prototype.then = function () { return 'POLLUTED'; };
Function.prototype.call = function () { return 'POLLUTED'; };
Function.prototype.apply = function () { return 'POLLUTED'; };
Reflect.apply = () => 'POLLUTED';
globalThis.String = () => 'POLLUTED';
void fake;
module.exports = function select(ctx) {
  return 'not-a-member';
};
