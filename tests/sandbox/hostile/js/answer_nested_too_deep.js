// Crash the parent's JSON parser: an answer nested 1,500 deep is small enough for node to encode and
// deep enough for Python's json.loads to raise RecursionError (not ValueError) in the engine. The
// depth must be checked before parsing, and the call must end in an error, not an exception.
module.exports = function select(ctx) {
  let answer = [ctx.members[1]];
  for (let i = 0; i < 1500; i++) answer = [answer];
  return answer;
};
