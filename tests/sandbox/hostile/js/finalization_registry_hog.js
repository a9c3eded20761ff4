// Run code outside the timeout: a FinalizationRegistry callback fires later from the event loop,
// where no vm timeout applies; it spins forever and would stall the worker for the next script.
const registry = new FinalizationRegistry(() => { for (;;) { /* spin outside the timeout */ } });
module.exports = function select(ctx) {
  for (let i = 0; i < 10000; i++) registry.register({ big: new Array(100) }, i);
  return 'not-a-member';
};
