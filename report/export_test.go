package report

// The synthetic runs of this package's tests, for its external tests
// (rendered_test.go), which render them.

var (
	BothStreams = bothStreams
	BenchInput  = benchInput
	SoundInput  = soundInput
	Stall       = stall
)

// ExitsAtOnceInput is the run of an app that exits on SIGTERM at once.
func ExitsAtOnceInput() Input { return exitsAtOnce().input(deployment()) }

// ExitsAtOnceNoHeaderInput is ExitsAtOnceInput with no pod header.
func ExitsAtOnceNoHeaderInput() Input { return exitsAtOnceNoHeader().input(deployment()) }

// NoFailureInput is a rollout no request failed in.
func NoFailureInput() Input { return newTimeline().input(nil) }

// Update is the -update flag: rewrite the golden files.
func Update() bool { return *update }
