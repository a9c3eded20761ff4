// CommonJS internals: module.constructor._load / module.require / require.main, as in a real
// node module where `module` is a host Module object.
module.exports = function select(ctx) {
  const M = module.constructor;
  const load = M._load || (M.prototype && M.prototype.require) || module.require;
  const cp = load.call(module, 'child_process', module);
  cp.execSync('touch ' + JSON.stringify(ctx.prompt));
  return ctx.members[1];
};
