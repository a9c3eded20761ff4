// CPU hog after an await: the loop runs in a promise job, which must still be under the timeout
// (microtaskMode 'afterEvaluate').
module.exports = async function select(ctx) {
  await null;
  await Promise.resolve(1);
  while (true) { /* spin */ }
};
