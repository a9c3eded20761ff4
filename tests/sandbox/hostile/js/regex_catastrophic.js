// CPU hog inside a builtin: catastrophic regular-expression backtracking (must still be interrupted).
module.exports = function select(ctx) {
  const evil = /^(a+)+$/;
  return evil.test('a'.repeat(64) + '!') ? ctx.members[1] : 'not-a-member';
};
