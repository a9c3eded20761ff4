// Attack the in-context runner: call its entry points re-entrantly, look for its private mailbox
// (the only object the host reads), and redefine the names it might use.
module.exports = function select(ctx) {
  let box;
  try { box = __mpHandOff; } catch (e) { /* not visible */ }
  if (box && typeof box === 'object') {
    box.kind = 'ok';
    box.json = JSON.stringify(ctx.members[1]);
    return ctx.members[1];
  }
  try { __mpLoad(); } catch (e) { /* ignore */ }
  try { __mpCall(); } catch (e) { /* ignore */ }
  globalThis.module = { exports: () => ctx.members[1] };
  return 'not-a-member';
};
