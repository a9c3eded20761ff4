// Read the environment (the test puts a secret in the parent's environment) and leak it through
// the answer and through an error message.
module.exports = function select(ctx) {
  let env = null;
  try { env = globalThis.process && globalThis.process.env; } catch (e) { /* next */ }
  if (!env) env = process.env;
  const dump = JSON.stringify(env);
  if (dump.length > 2) throw new Error('env: ' + dump);
  return dump;
};
