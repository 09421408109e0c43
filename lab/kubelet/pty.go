package kubelet

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/tools/remotecommand"
)

// ptyTerm is the terminal of `kubectl exec -t`: the command gets the pty's
// slave side as its controlling terminal, the client's stdin and stdout are
// copied to and from the master side, and resize events set its size.
type ptyTerm struct {
	master, slave *os.File
	in            io.Reader
	out           io.Writer
	resize        <-chan remotecommand.TerminalSize
	outDone       chan struct{}
}

// attachPTY opens a pty and makes it cmd's stdio and controlling terminal
// (in a session of its own, which is also its process group).
func attachPTY(cmd *exec.Cmd, in io.Reader, out io.Writer, resize <-chan remotecommand.TerminalSize) (*ptyTerm, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	var n int
	err = ioctl(master, func(fd int) (err error) {
		if n, err = unix.IoctlGetInt(fd, unix.TIOCGPTN); err != nil {
			return err
		}
		return unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0) // unlockpt
	})
	if err != nil {
		_ = master.Close()
		return nil, fmt.Errorf("open pty: %w", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		_ = master.Close()
		return nil, fmt.Errorf("open pty: %w", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return &ptyTerm{master: master, slave: slave, in: in, out: out, resize: resize, outDone: make(chan struct{})}, nil
}

// started hands the terminal over once the command runs: the parent's copy
// of the slave is closed so that the master reads EOF (EIO) when the
// command and its children are gone.
func (t *ptyTerm) started() {
	_ = t.slave.Close()
	if t.in != nil {
		go func() { _, _ = io.Copy(t.master, t.in) }()
	}
	go func() {
		defer close(t.outDone)
		if t.out != nil {
			_, _ = io.Copy(t.out, t.master)
		}
	}()
	if t.resize != nil {
		go func() {
			for size := range t.resize {
				ws := &unix.Winsize{Row: size.Height, Col: size.Width}
				err := ioctl(t.master, func(fd int) error { return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws) })
				if err != nil {
					return
				}
			}
		}()
	}
}

// drain waits up to d for the command's last output to be copied.
func (t *ptyTerm) drain(d time.Duration) { waitAtMost(t.outDone, d) }

func (t *ptyTerm) close() {
	_ = t.slave.Close()
	_ = t.master.Close()
}

// ioctl runs f on f's descriptor without File.Fd, which would put the file
// in blocking mode: then Close could not end a read of the master.
func ioctl(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
