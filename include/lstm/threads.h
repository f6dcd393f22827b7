// How many threads the library's layers use.
#pragma once

namespace lstm {

// The layers run on the calling thread plus up to n − 1 worker threads, which the library starts
// when first needed and keeps (they sleep when idle). n ≥ 1; the default is the number of
// hardware threads, at most 1023. Results are bit-identical whatever n is: every output and gradient element
// is computed by the same sequence of float operations however the work is split.
// Throws lstm::Error for n < 1.
void set_num_threads(int n);
int num_threads();

}  // namespace lstm
