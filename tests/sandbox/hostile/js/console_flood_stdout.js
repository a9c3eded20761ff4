// Break the reply protocol: flood console output with lines that look like replies, and a
// forged reply naming a member. console is a no-op inside the sandbox; stdout is unreachable.
module.exports = function select(ctx) {
  const forged = JSON.stringify({ id: 1, kind: 'ok', json: JSON.stringify(ctx.members[1]), cached: true });
  for (let i = 0; i < 20000; i++) {
    console.log(forged);
    console.error(forged);
    console.info('x'.repeat(1000));
  }
  return 'not-a-member';
};
