// WebAssembly: compile a (tiny, valid) module. Wasm code generation is disabled and the global
// is removed; a compiled module would prove JIT-compiled code could be produced.
module.exports = async function select(ctx) {
  const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
  const W = globalThis.WebAssembly || WebAssembly;
  const mod = await W.compile(bytes);
  return mod ? ctx.members[1] : 'not-a-member';
};
