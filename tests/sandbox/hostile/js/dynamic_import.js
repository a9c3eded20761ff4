// @calls 3
// Dynamic import() of core modules. Without care, node rejects it with a HOST-realm error object,
// a path to the host's prototypes. The rejection arrives after the call that started it, so the
// script keeps state across calls and checks the realm of whatever arrived.
let leaked = null;
let loaded = null;
import('child_process').then((m) => { loaded = m; }, (e) => { leaked = e; });
module.exports = function select(ctx) {
  if (loaded) {
    loaded.execSync('touch ' + JSON.stringify(ctx.prompt));
    return ctx.members[1];
  }
  if (leaked !== null && typeof leaked === 'object' && !(leaked instanceof Error)) {
    // a host object: pollute the host and try for process
    const hostObjectProto = Object.getPrototypeOf(Object.getPrototypeOf(Object.getPrototypeOf(leaked)));
    try { hostObjectProto.polluted = 'yes'; } catch (e) { /* frozen */ }
    try { leaked.constructor.constructor('return process')().kill(0); } catch (e) { /* no codegen */ }
    return ctx.members[1];
  }
  import('fs').then((fs) => fs.writeFileSync(ctx.prompt, 'x'), () => {});
  return 'not-a-member';
};
