package node

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	Point  string // mount point
	FSType string
	Super  string // super options (for cgroup v1: the controllers)
	Shared bool   // has a shared:N propagation tag
}

// readMounts parses /proc/self/mountinfo.
func readMounts() ([]mountInfo, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountInfo(bufio.NewScanner(f))
}

func parseMountInfo(sc *bufio.Scanner) ([]mountInfo, error) {
	var ms []mountInfo
	for sc.Scan() {
		line := sc.Text()
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 2 {
			return nil, fmt.Errorf("mountinfo: malformed line %q", line)
		}
		m := mountInfo{Point: unescapeMount(f[4]), FSType: g[0]}
		if len(g) > 2 {
			m.Super = g[2]
		}
		for _, opt := range f[6:] {
			if strings.HasPrefix(opt, "shared:") {
				m.Shared = true
			}
		}
		ms = append(ms, m)
	}
	return ms, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// mountsUnder returns the mount points at or under dir, deepest first (and,
// for mounts stacked on one point, one entry per mount).
func mountsUnder(ms []mountInfo, dir string) []string {
	var pts []string
	for _, m := range ms {
		if under(m.Point, dir) {
			pts = append(pts, m.Point)
		}
	}
	sort.SliceStable(pts, func(i, j int) bool {
		return strings.Count(pts[i], "/") > strings.Count(pts[j], "/")
	})
	return pts
}

// unmountUnder unmounts everything mounted at or under dir, deepest first;
// a busy mount is detached.
func unmountUnder(dir string) error {
	for range 20 { // mounts can be stacked; each round takes the top ones
		ms, err := readMounts()
		if err != nil {
			return err
		}
		pts := mountsUnder(ms, dir)
		if len(pts) == 0 {
			return nil
		}
		for _, p := range pts {
			if err := unix.Unmount(p, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				_ = unix.Unmount(p, unix.MNT_DETACH)
			}
		}
	}
	return fmt.Errorf("mounts under %s would not go away", dir)
}

// mountContaining returns the mount point of the mount that holds path.
func mountContaining(ms []mountInfo, path string) string {
	best := "/"
	for _, m := range ms {
		if under(path, m.Point) && len(m.Point) > len(best) {
			best = m.Point
		}
	}
	return best
}

// cgroupMounts returns the mount points of the cgroup hierarchies (v1 and,
// on a hybrid host, the v2 one), each once.
func cgroupMounts(ms []mountInfo) []string {
	seen := map[string]bool{}
	var pts []string
	for _, m := range ms {
		if (m.FSType == "cgroup" || m.FSType == "cgroup2") && !seen[m.Point] {
			seen[m.Point] = true
			pts = append(pts, m.Point)
		}
	}
	return pts
}

// createCgroupRoot creates the cgroup root under every v1 hierarchy (the
// kubelet insists it exists); cpuset gets its parent's cpus and mems, as a
// new cpuset cgroup starts with none.
func createCgroupRoot(root string) error {
	ms, err := readMounts()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.FSType != "cgroup" {
			continue
		}
		dir := filepath.Join(m.Point, root)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if strings.Contains(","+m.Super+",", ",cpuset,") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(m.Point, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return fmt.Errorf("cgroup %s: %w", filepath.Join(dir, f), err)
				}
			}
		}
	}
	return nil
}

// cgroupDirs returns the directories of the cgroup root and its
// descendants under every hierarchy, deepest first.
func cgroupDirs(root string) ([]string, error) {
	ms, err := readMounts()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, p := range cgroupMounts(ms) {
		top := filepath.Join(p, root)
		_ = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	sort.SliceStable(dirs, func(i, j int) bool {
		return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/")
	})
	return dirs, nil
}

// cgroupProcs returns the pids in any of dirs.
func cgroupProcs(dirs []string) []int {
	seen := map[int]bool{}
	var pids []int
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// removeCgroups removes the cgroup root's directories under every
// hierarchy, deepest first.
func removeCgroups(root string) error {
	dirs, err := cgroupDirs(root)
	if err != nil {
		return err
	}
	// A cgroup stays busy until its last zombie is reaped: retry a while.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var errs []error
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
		if len(errs) == 0 || time.Now().After(deadline) {
			return errors.Join(errs...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// netnsProcs returns the pids of processes whose network namespace is the
// one bind-mounted at path.
func netnsProcs(path string) []int {
	// Only a mounted namespace counts (a stale plain file's inode number
	// could equal some namespace's), and never the caller's own.
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil || sfs.Type != unix.NSFS_MAGIC {
		return nil
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nil
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	if own, _ := os.Readlink("/proc/self/ns/net"); own == want {
		return nil
	}
	var pids []int
	for _, pid := range allPIDs() {
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && link == want {
			pids = append(pids, pid)
		}
	}
	return pids
}

func allPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killUntilGone sends SIGKILL to whatever find returns until it returns
// nothing or the timeout passes; it returns the pids still there.
func killUntilGone(timeout time.Duration, find func() []int) []int {
	deadline := time.Now().Add(timeout)
	for {
		// A zombie is dead already: only its parent (often pid 1 here,
		// which reaps slowly) can remove it.
		pids := slices.DeleteFunc(find(), zombie)
		if len(pids) == 0 || time.Now().After(deadline) {
			return pids
		}
		for _, pid := range pids {
			if pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// zombie reports whether pid has exited but is not reaped yet (or is gone).
func zombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) == 0 || f[0] == "Z" || f[0] == "X"
}

// removeEmptyDirs removes dir and its subdirectories, deepest first, as far
// as they are empty; files are never removed.
func removeEmptyDirs(dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails (and stays) unless empty
	}
}
