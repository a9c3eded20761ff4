// Write a marker file (the test passes its path as ctx.prompt and checks it never appears).
module.exports = async function select(ctx) {
  const fs = await import('fs');
  fs.writeFileSync(ctx.prompt, 'escaped');
  return ctx.members[1];
};
