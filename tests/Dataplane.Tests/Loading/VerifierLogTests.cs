using System.Diagnostics;
using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.Loading;

/// <summary>
/// A program the verifier rejects must surface the verifier's own words. The embedded object is
/// valid, so this compiles a deliberately broken one with clang (which the build needs anyway).
/// </summary>
[Category("Privileged")]
public sealed class VerifierLogTests
{
    private const string BrokenProgram = """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        SEC("tc")
        int pr_broken(struct __sk_buff *skb)
        {
            /* reads packet data without checking it against data_end */
            unsigned char *data = (unsigned char *)(long)skb->data;
            return data[100];
        }

        char LICENSE[] SEC("license") = "GPL";
        """;

    [Test]
    public void ARejectedProgramCarriesTheVerifierLog()
    {
        Privileged.Require();
        var elf = Compile(BrokenProgram);

        var error = Assert.Throws<BpfException>(() =>
            BpfObjectLoader.Load(new BpfObjectSpec(elf, "broken", new Dictionary<string, uint>(), PinRoot: null)).Dispose());
        TestContext.Out.WriteLine(error!.Message);

        Assert.Multiple(() =>
        {
            Assert.That(error!.Errno, Is.EqualTo(Errno.EACCES), "the verifier's verdict");
            Assert.That(error.LibbpfLog, Does.Contain("pr_broken"), "libbpf names the program");
            Assert.That(error.LibbpfLog, Does.Contain("invalid access to packet"), "the verifier's own message");
            Assert.That(error.LibbpfLog!.Length, Is.LessThanOrEqualTo(Interop.LibBpfLog.MaxCapturedChars + 100));
            Assert.That(error.Message, Does.Contain("invalid access to packet"));
        });
    }

    private static byte[] Compile(string source)
    {
        var dir = Directory.CreateTempSubdirectory("prt-bpfc-").FullName;
        try
        {
            var c = Path.Combine(dir, "broken.bpf.c");
            var o = Path.Combine(dir, "broken.bpf.o");
            File.WriteAllText(c, source);
            var triplet = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
            var start = new ProcessStartInfo("clang", ["-O2", "-g", "-target", "bpf", $"-I/usr/include/{triplet}", "-c", c, "-o", o])
            {
                RedirectStandardError = true,
            };
            Process process;
            try
            {
                process = Process.Start(start)!;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                Assert.Ignore("clang is not installed");
                throw;
            }
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.That(process.ExitCode, Is.Zero, $"clang failed: {stderr}");
            return File.ReadAllBytes(o);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
