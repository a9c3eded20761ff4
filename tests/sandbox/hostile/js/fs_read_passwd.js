// Read /etc/passwd (any readable file proves a filesystem escape), via require or process.binding.
module.exports = function select(ctx) {
  let text = '';
  try { text = require('fs').readFileSync('/etc/passwd', 'utf8'); } catch (e) { /* next */ }
  if (!text) {
    const b = process.binding('fs');
    text = String(b.readFileUtf8 ? b.readFileUtf8('/etc/passwd', 0) : '');
  }
  return text.includes('root') ? ctx.members[1] : 'not-a-member';
};
