using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.Loading;

/// <summary>Failures carry errno and what libbpf printed.</summary>
public sealed class ErrorReportingTests
{
    [Test]
    public void OpeningGarbageCarriesErrnoAndLibbpfsMessage()
    {
        var notElf = new byte[256];
        "this is not an ELF file"u8.CopyTo(notElf);

        var error = Assert.Throws<BpfException>(() => BpfObjectHandle.Open(notElf, "garbage"));

        Assert.Multiple(() =>
        {
            Assert.That(error!.Errno, Is.Not.Zero);
            Assert.That(error.LibbpfLog, Is.Not.Null.And.Contains("elf"), "libbpf explains what is wrong with the image");
            Assert.That(error.Message, Does.Contain("garbage").And.Contain("libbpf log"));
        });
    }

    [Test]
    public void LibbpfLinesOutsideACaptureGoToTheEvent()
    {
        var lines = new List<string>();
        void Collect(LibBpfLogLevel level, string line)
        {
            lock (lines)
                lines.Add(line);
        }
        LibBpfLog.Printed += Collect;
        try
        {
            var notElf = new byte[64];
            // Open directly (no capture) so the warning has nowhere to go but the event.
            LibBpfLog.EnsureInstalled();
            unsafe
            {
                fixed (byte* image = notElf)
                {
                    var obj = LibBpf.bpf_object__open_mem(image, (nuint)notElf.Length, null);
                    Assert.That(obj, Is.EqualTo(nint.Zero));
                }
            }
        }
        finally
        {
            LibBpfLog.Printed -= Collect;
        }
        Assert.That(lines, Has.Some.Contains("elf"));
    }

    [Test]
    [Category("Privileged")]
    public void OpeningAMissingPinCarriesEnoentAndThePath()
    {
        Privileged.Require();
        using var bpffs = BpffsMount.Create();
        var path = Path.Combine(bpffs.Path, "no_such_map");

        var error = Assert.Throws<BpfException>(() => BpfMap<uint, DataplaneConfig>.OpenPinned(path));

        Assert.That(error!.Errno, Is.EqualTo(Errno.ENOENT));
        Assert.That(error.Message, Does.Contain(path).And.Contain("ENOENT"));
    }

    [Test]
    [Category("Privileged")]
    public void APinRootOutsideBpffsIsRefusedClearly()
    {
        Privileged.Require();
        var dir = Directory.CreateTempSubdirectory("prt-notbpffs-").FullName;
        try
        {
            var error = Assert.Throws<BpfException>(() => CoreDataplane.Load(new DataplaneOptions { PinRoot = dir }));
            Assert.That(error!.Message, Does.Contain("not on a bpffs").And.Contain(dir));
            Assert.That(Directory.EnumerateFileSystemEntries(dir), Is.Empty);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
