package attack

import (
	"math/bits"
	"time"
)

// histogram counts latencies in log-linear bins: bin 0 holds [0, 4.096µs),
// then every power of two up to 2^36ns (68.7s) is split into 8 equal bins, so
// a percentile read back from a bin midpoint is within 1/16 (6.25%) of the
// true value. Larger latencies go to the last bin; the exact maximum is kept
// beside the histogram. 193 counters are 772 bytes, whatever the count.
type histogram [numBins]uint32

const (
	subBits  = 3
	subCount = 1 << subBits
	minExp   = 12 // 2^12ns = 4.096µs
	maxExp   = 35 // last octave [2^35, 2^36)
	numBins  = 1 + (maxExp-minExp+1)*subCount
)

func binOf(d time.Duration) int {
	ns := uint64(max(d, 0))
	if ns < 1<<minExp {
		return 0
	}
	e := bits.Len64(ns) - 1
	if e > maxExp {
		return numBins - 1
	}
	sub := int(ns>>(e-subBits)) & (subCount - 1)
	return 1 + (e-minExp)*subCount + sub
}

// binMid returns the midpoint of bin i.
func binMid(i int) time.Duration {
	if i == 0 {
		return 1 << (minExp - 1)
	}
	e := minExp + (i-1)/subCount
	sub := int64((i - 1) % subCount)
	lo := (subCount + sub) << (e - subBits)
	hi := (subCount + sub + 1) << (e - subBits)
	return time.Duration((lo + hi) / 2)
}

func (h *histogram) add(d time.Duration) { h[binOf(d)]++ }

// quantile returns the q-quantile (0 < q <= 1) of total recorded values,
// clamped to maxSeen so a sparse bin never reports more than was observed.
func (h *histogram) quantile(q float64, total uint64, maxSeen time.Duration) time.Duration {
	return quantileOf(h[:], 0, q, total, maxSeen)
}

// spanHistogram counts the same bins as histogram but stores only the span
// from the lowest to the highest bin it has seen. The latencies of one
// 100ms bucket fall in a few dozen bins, so a bucket's histogram takes a
// fraction of the 772 bytes of a full one, and never more than that plus a
// slice header.
type spanHistogram struct {
	lo     int      // bin of counts[0]
	counts []uint32 // bins lo .. lo+len(counts)-1
}

func (h *spanHistogram) add(d time.Duration) { h.addBin(binOf(d), 1) }

// addBin counts n values in bin i.
func (h *spanHistogram) addBin(i int, n uint32) {
	switch hi := h.lo + len(h.counts); {
	case len(h.counts) == 0:
		h.lo, h.counts = i, make([]uint32, 1)
	case i < h.lo:
		grown := make([]uint32, hi-i)
		copy(grown[h.lo-i:], h.counts)
		h.lo, h.counts = i, grown
	case i >= hi:
		grown := make([]uint32, i+1-h.lo)
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i-h.lo] += n
}

// quantile is histogram.quantile over the same counts.
func (h *spanHistogram) quantile(q float64, total uint64, maxSeen time.Duration) time.Duration {
	return quantileOf(h.counts, h.lo, q, total, maxSeen)
}

// quantileOf returns the q-quantile of total values counted in bins lo,
// lo+1, ... (counts[0] is bin lo), clamped to maxSeen.
func quantileOf(counts []uint32, lo int, q float64, total uint64, maxSeen time.Duration) time.Duration {
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.999999)
	rank = min(max(rank, 1), total)
	var seen uint64
	for j, n := range counts {
		seen += uint64(n)
		if seen >= rank {
			i := lo + j
			if i == numBins-1 {
				return maxSeen // the overflow bin has no upper bound
			}
			return min(binMid(i), maxSeen)
		}
	}
	return maxSeen
}
