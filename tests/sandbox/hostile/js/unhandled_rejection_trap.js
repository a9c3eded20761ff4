// Unhandled rejections are reported by node on the HOST stack: reject with an object whose
// stack/message getters spin, hoping node formats it outside the timeout (or exits on it).
module.exports = function select(ctx) {
  const bad = {};
  for (const key of ['stack', 'message', 'name', 'constructor']) {
    Object.defineProperty(bad, key, { get() { for (;;) { /* spin */ } } });
  }
  Promise.reject(bad);
  Promise.reject(new Proxy({}, { get() { for (;;) { /* spin */ } } }));
  return 'not-a-member';
};
