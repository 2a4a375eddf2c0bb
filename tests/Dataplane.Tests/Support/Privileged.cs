namespace ProxyReplacement.Dataplane.Tests.Support;

/// <summary>
/// Gate for tests that need root and a BPF-capable kernel. Where the machine cannot run them the
/// test is skipped with the reason, except under CI (CI=true) or PR_REQUIRE_PRIVILEGED=1, where a
/// skip would hide a regression and the test fails instead.
/// </summary>
public static class Privileged
{
    public static bool Required =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
        || Environment.GetEnvironmentVariable("PR_REQUIRE_PRIVILEGED") == "1";

    /// <summary>Call first in every [Category("Privileged")] test or fixture setup.</summary>
    public static void Require()
    {
        var reason = MissingReason();
        if (reason is not null)
            Unavailable(reason);
    }

    /// <summary>Skips the test for <paramref name="reason"/> (something this machine lacks), or fails it under CI.</summary>
    public static void Unavailable(string reason)
    {
        if (Required)
            Assert.Fail($"privileged test cannot run here and CI requires it: {reason}");
        Assert.Ignore($"skipped: {reason}");
    }

    private static string? MissingReason()
    {
        if (!OperatingSystem.IsLinux())
            return "not Linux";
        if (Environment.UserName != "root" && geteuid() != 0)
            return "not running as root";
        if (!File.Exists("/sys/kernel/btf/vmlinux"))
            return "kernel has no BTF (/sys/kernel/btf/vmlinux missing)";
        if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip"))
            return "iproute2 (ip) is not installed";
        return null;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = false)]
    private static extern uint geteuid();
}
