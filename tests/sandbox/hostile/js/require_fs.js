// Plain require of a core module.
const fs = require('fs');
module.exports = function select(ctx) {
  fs.writeFileSync(ctx.prompt, 'escaped');
  return ctx.members[1];
};
