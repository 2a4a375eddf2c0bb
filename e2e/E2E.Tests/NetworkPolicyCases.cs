using ProxyReplacement.E2E.Tests.Policy;

namespace ProxyReplacement.E2E.Tests;

/// <summary>A truth-table case: its policies (YAML), the isolation they imply and the expected matrix, both written by hand.</summary>
public sealed class NetworkPolicyCase
{
    internal NetworkPolicyCase(string id, string name, string policies, PolicyIsolation isolation, ExpectedReachability expected)
    {
        Id = id;
        Name = name;
        Policies = policies;
        Isolation = isolation;
        Expected = expected;
    }

    /// <summary>The test's name, without spaces (filters): <c>Truth_table(deny-ingress-x)</c>.</summary>
    public string Id { get; }

    /// <summary>What the case checks, in words.</summary>
    public string Name { get; }

    public string Policies { get; }
    internal PolicyIsolation Isolation { get; }
    internal ExpectedReachability Expected { get; }

    public override string ToString() => Name;
}

/// <summary>
/// The cases of <see cref="NetworkPolicyTests.Truth_table"/>. Every expected table is written by hand from the Kubernetes
/// NetworkPolicy semantics (networking.k8s.io/v1), never computed: rows are clients, columns servers, <c>.</c> reachable,
/// <c>X</c> not. Connections are what policies allow, so the answers of an allowed connection always pass (a blocked
/// row with an open column is exactly that). To add a case: write its policies, the isolation they imply, its table(s),
/// and append it to <see cref="All"/>.
/// </summary>
public static class NetworkPolicyCases
{
    // ---------------------------------------------------------------- tables
    private const string AllReachable = """
             x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a   .   .   .   .   .   .   .   .   .
        x/b   .   .   .   .   .   .   .   .   .
        x/c   .   .   .   .   .   .   .   .   .
        y/a   .   .   .   .   .   .   .   .   .
        y/b   .   .   .   .   .   .   .   .   .
        y/c   .   .   .   .   .   .   .   .   .
        z/a   .   .   .   .   .   .   .   .   .
        z/b   .   .   .   .   .   .   .   .   .
        z/c   .   .   .   .   .   .   .   .   .
        """;

    /// <summary>Every pod's ingress is denied: only self-traffic, which never leaves the pod.</summary>
    private const string OnlySelf = """
             x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a   .   X   X   X   X   X   X   X   X
        x/b   X   .   X   X   X   X   X   X   X
        x/c   X   X   .   X   X   X   X   X   X
        y/a   X   X   X   .   X   X   X   X   X
        y/b   X   X   X   X   .   X   X   X   X
        y/c   X   X   X   X   X   .   X   X   X
        z/a   X   X   X   X   X   X   .   X   X
        z/b   X   X   X   X   X   X   X   .   X
        z/c   X   X   X   X   X   X   X   X   .
        """;

    /// <summary>Nobody reaches a pod of x (columns), x's pods still reach everyone else.</summary>
    private const string IntoXBlocked = """
             x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a   .   X   X   .   .   .   .   .   .
        x/b   X   .   X   .   .   .   .   .   .
        x/c   X   X   .   .   .   .   .   .   .
        y/a   X   X   X   .   .   .   .   .   .
        y/b   X   X   X   .   .   .   .   .   .
        y/c   X   X   X   .   .   .   .   .   .
        z/a   X   X   X   .   .   .   .   .   .
        z/b   X   X   X   .   .   .   .   .   .
        z/c   X   X   X   .   .   .   .   .   .
        """;

    /// <summary>x's pods reach nobody (rows); everyone reaches x, so x's answers pass x's egress.</summary>
    private const string OutOfXBlocked = """
             x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a   .   X   X   X   X   X   X   X   X
        x/b   X   .   X   X   X   X   X   X   X
        x/c   X   X   .   X   X   X   X   X   X
        y/a   .   .   .   .   .   .   .   .   .
        y/b   .   .   .   .   .   .   .   .   .
        y/c   .   .   .   .   .   .   .   .   .
        z/a   .   .   .   .   .   .   .   .   .
        z/b   .   .   .   .   .   .   .   .   .
        z/c   .   .   .   .   .   .   .   .   .
        """;

    /// <summary>Nobody but x/a itself reaches x/a.</summary>
    private const string IntoXaBlocked = """
             x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a   .   .   .   .   .   .   .   .   .
        x/b   X   .   .   .   .   .   .   .   .
        x/c   X   .   .   .   .   .   .   .   .
        y/a   X   .   .   .   .   .   .   .   .
        y/b   X   .   .   .   .   .   .   .   .
        y/c   X   .   .   .   .   .   .   .   .
        z/a   X   .   .   .   .   .   .   .   .
        z/b   X   .   .   .   .   .   .   .   .
        z/c   X   .   .   .   .   .   .   .   .
        """;

    // ---------------------------------------------------------------- policies
    internal const string DenyAllIngressInX = """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny-all-ingress, namespace: x}
        spec:
          podSelector: {}
          policyTypes: [Ingress]
        """;

    internal const string DenyAllInX = """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny-all, namespace: x}
        spec:
          podSelector: {}
          policyTypes: [Ingress, Egress]
        """;

    internal const string AllowAllIngressInX = """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: allow-all-ingress, namespace: x}
        spec:
          podSelector: {}
          policyTypes: [Ingress]
          ingress:
          - {}
        """;

    internal const string DenyAllIngressEverywhere = """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny-all-ingress, namespace: x}
        spec: {podSelector: {}, policyTypes: [Ingress]}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny-all-ingress, namespace: y}
        spec: {podSelector: {}, policyTypes: [Ingress]}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny-all-ingress, namespace: z}
        spec: {podSelector: {}, policyTypes: [Ingress]}
        """;

    internal const string EgressFromXToDnsOnly = """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: egress-dns-only, namespace: x}
        spec:
          podSelector: {}
          policyTypes: [Egress]
          egress:
          - ports:
            - {protocol: UDP, port: 53}
            - {protocol: TCP, port: 53}
        """;

    /// <summary>The expected matrix without any policy.</summary>
    internal static ExpectedReachability EveryPodReachesEveryPod => ExpectedReachability.Everywhere(AllReachable);

    /// <summary>The expected matrix of <see cref="DenyAllIngressEverywhere"/>.</summary>
    internal static ExpectedReachability NothingButSelf => ExpectedReachability.Everywhere(OnlySelf);

    private static readonly string[] X = PolicyIsolation.All("x");
    private static readonly string[] XaOnly = ["x/a"];

    public static IEnumerable<TestCaseData> All() =>
        Cases().Select(c => new TestCaseData(c).SetArgDisplayNames(c.Id).SetDescription(c.Name));

    private static IEnumerable<NetworkPolicyCase> Cases()
    {
        yield return new("no-policy", "no policy: every pod reaches every pod", "", PolicyIsolation.None,
            ExpectedReachability.Everywhere(AllReachable));

        yield return new("deny-ingress-x", "deny all ingress in x", DenyAllIngressInX, PolicyIsolation.Of(ingress: X),
            ExpectedReachability.Everywhere(IntoXBlocked));

        yield return new("deny-egress-x", "deny all egress in x: x opens nothing, the answers of x's servers pass x's egress", """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: deny-all-egress, namespace: x}
            spec:
              podSelector: {}
              policyTypes: [Egress]
            """, PolicyIsolation.Of(egress: X), ExpectedReachability.Everywhere(OutOfXBlocked));

        yield return new("x-a-from-ns-y", "ingress to x/a from namespace y only", """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: a-from-ns-y, namespace: x}
            spec:
              podSelector: {matchLabels: {pod: a}}
              ingress:
              - from:
                - namespaceSelector: {matchLabels: {ns: y}}
            """, PolicyIsolation.Of(ingress: XaOnly), ExpectedReachability.Everywhere("""
                 x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a   .   .   .   .   .   .   .   .   .
            x/b   X   .   .   .   .   .   .   .   .
            x/c   X   .   .   .   .   .   .   .   .
            y/a   .   .   .   .   .   .   .   .   .
            y/b   .   .   .   .   .   .   .   .   .
            y/c   .   .   .   .   .   .   .   .   .
            z/a   X   .   .   .   .   .   .   .   .
            z/b   X   .   .   .   .   .   .   .   .
            z/c   X   .   .   .   .   .   .   .   .
            """));

        yield return new("x-a-from-pod-b-any-ns", "ingress to x/a from pods pod=b of any namespace (namespaceSelector {} and podSelector)", """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: a-from-any-b, namespace: x}
            spec:
              podSelector: {matchLabels: {pod: a}}
              policyTypes: [Ingress]
              ingress:
              - from:
                - namespaceSelector: {}
                  podSelector: {matchLabels: {pod: b}}
            """, PolicyIsolation.Of(ingress: XaOnly), ExpectedReachability.Everywhere("""
                 x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a   .   .   .   .   .   .   .   .   .
            x/b   .   .   .   .   .   .   .   .   .
            x/c   X   .   .   .   .   .   .   .   .
            y/a   X   .   .   .   .   .   .   .   .
            y/b   .   .   .   .   .   .   .   .   .
            y/c   X   .   .   .   .   .   .   .   .
            z/a   X   .   .   .   .   .   .   .   .
            z/b   .   .   .   .   .   .   .   .   .
            z/c   X   .   .   .   .   .   .   .   .
            """));

        yield return new("x-a-from-ns-y-and-pod-b", "ingress to x/a from pod=b in namespace y: both selectors in one peer (AND)", """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: a-from-y-and-b, namespace: x}
            spec:
              podSelector: {matchLabels: {pod: a}}
              ingress:
              - from:
                - namespaceSelector: {matchLabels: {ns: y}}
                  podSelector: {matchLabels: {pod: b}}
            """, PolicyIsolation.Of(ingress: XaOnly), ExpectedReachability.Everywhere("""
                 x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a   .   .   .   .   .   .   .   .   .
            x/b   X   .   .   .   .   .   .   .   .
            x/c   X   .   .   .   .   .   .   .   .
            y/a   X   .   .   .   .   .   .   .   .
            y/b   .   .   .   .   .   .   .   .   .
            y/c   X   .   .   .   .   .   .   .   .
            z/a   X   .   .   .   .   .   .   .   .
            z/b   X   .   .   .   .   .   .   .   .
            z/c   X   .   .   .   .   .   .   .   .
            """));

        // The same two selectors as two peers: namespace y, or pod=b of the policy's own namespace x.
        yield return new("x-a-from-ns-y-or-pod-b", "ingress to x/a from namespace y or pod=b of x: two peers (OR)", """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: a-from-y-or-b, namespace: x}
            spec:
              podSelector: {matchLabels: {pod: a}}
              ingress:
              - from:
                - namespaceSelector: {matchLabels: {ns: y}}
                - podSelector: {matchLabels: {pod: b}}
            """, PolicyIsolation.Of(ingress: XaOnly), ExpectedReachability.Everywhere("""
                 x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a   .   .   .   .   .   .   .   .   .
            x/b   .   .   .   .   .   .   .   .   .
            x/c   X   .   .   .   .   .   .   .   .
            y/a   .   .   .   .   .   .   .   .   .
            y/b   .   .   .   .   .   .   .   .   .
            y/c   .   .   .   .   .   .   .   .   .
            z/a   X   .   .   .   .   .   .   .   .
            z/b   X   .   .   .   .   .   .   .   .
            z/c   X   .   .   .   .   .   .   .   .
            """));

        // 10.244.2.0/23 holds the pods of nodes b and c (x/b, y/a, z/c; x/c, y/b, z/a); y/a is 10.244.2.3. Node a's pods
        // (x/a itself, y/c, z/b) are outside the block.
        yield return new("x-a-from-ipblock-except", "ingress to x/a from ipBlock 10.244.2.0/23 except y/a's 10.244.2.3/32", """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: a-from-block, namespace: x}
            spec:
              podSelector: {matchLabels: {pod: a}}
              ingress:
              - from:
                - ipBlock: {cidr: 10.244.2.0/23, except: [10.244.2.3/32]}
            """, PolicyIsolation.Of(ingress: XaOnly), ExpectedReachability.Everywhere("""
                 x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a   .   .   .   .   .   .   .   .   .
            x/b   .   .   .   .   .   .   .   .   .
            x/c   .   .   .   .   .   .   .   .   .
            y/a   X   .   .   .   .   .   .   .   .
            y/b   .   .   .   .   .   .   .   .   .
            y/c   X   .   .   .   .   .   .   .   .
            z/a   .   .   .   .   .   .   .   .   .
            z/b   X   .   .   .   .   .   .   .   .
            z/c   .   .   .   .   .   .   .   .   .
            """));

        // Named ports resolve against x/a's container ports: serve-81-tcp is 81/TCP, serve-80-udp 80/UDP.
        yield return new("x-a-named-ports", "ingress to x/a on the named ports serve-81-tcp and serve-80-udp only", """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: a-named-ports, namespace: x}
            spec:
              podSelector: {matchLabels: {pod: a}}
              ingress:
              - ports:
                - {port: serve-81-tcp}
                - {protocol: UDP, port: serve-80-udp}
            """, PolicyIsolation.Of(ingress: XaOnly),
            ExpectedReachability.Everywhere(IntoXaBlocked).On(81, L4.Tcp, AllReachable).On(80, L4.Udp, AllReachable));

        // TCP 80..81 takes both TCP ports; UDP 79..80 takes 80 and not 81 (a range, neither one port nor all ports).
        yield return new("x-a-port-ranges", "ingress to x/a on TCP 80 with endPort 81 and UDP 79 with endPort 80", """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: a-port-ranges, namespace: x}
            spec:
              podSelector: {matchLabels: {pod: a}}
              ingress:
              - ports:
                - {protocol: TCP, port: 80, endPort: 81}
                - {protocol: UDP, port: 79, endPort: 80}
            """, PolicyIsolation.Of(ingress: XaOnly),
            ExpectedReachability.Everywhere(AllReachable).On(81, L4.Udp, IntoXaBlocked));

        // Nothing listens on 53, so every probe out of x is blocked; Egress_to_dns_only_lets_x_reach_port_53... checks 53.
        yield return new("x-egress-dns-only", "egress from x to DNS only (TCP and UDP 53)", EgressFromXToDnsOnly, PolicyIsolation.Of(egress: X),
            ExpectedReachability.Everywhere(OutOfXBlocked));

        yield return new("union-deny-and-allow-all", "deny all ingress in x plus allow all ingress to x/a: policies are a union", DenyAllIngressInX + """

            ---
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: a-from-all, namespace: x}
            spec:
              podSelector: {matchLabels: {pod: a}}
              ingress:
              - {}
            """, PolicyIsolation.Of(ingress: X), ExpectedReachability.Everywhere("""
                 x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a   .   X   X   .   .   .   .   .   .
            x/b   .   .   X   .   .   .   .   .   .
            x/c   .   X   .   .   .   .   .   .   .
            y/a   .   X   X   .   .   .   .   .   .
            y/b   .   X   X   .   .   .   .   .   .
            y/c   .   X   X   .   .   .   .   .   .
            z/a   .   X   X   .   .   .   .   .   .
            z/b   .   X   X   .   .   .   .   .   .
            z/c   .   X   X   .   .   .   .   .   .
            """));

        // policyTypes says Egress only: the ingress section (which would admit pod=b only) is ignored, x/a stays open.
        yield return new("egress-only-ignores-ingress", "policyTypes [Egress] only: x/a reaches namespace y only, its ingress section is ignored", """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: a-egress-only, namespace: x}
            spec:
              podSelector: {matchLabels: {pod: a}}
              policyTypes: [Egress]
              ingress:
              - from:
                - podSelector: {matchLabels: {pod: b}}
              egress:
              - to:
                - namespaceSelector: {matchLabels: {ns: y}}
            """, PolicyIsolation.Of(egress: XaOnly), ExpectedReachability.Everywhere("""
                 x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a   .   X   X   .   .   .   X   X   X
            x/b   .   .   .   .   .   .   .   .   .
            x/c   .   .   .   .   .   .   .   .   .
            y/a   .   .   .   .   .   .   .   .   .
            y/b   .   .   .   .   .   .   .   .   .
            y/c   .   .   .   .   .   .   .   .   .
            z/a   .   .   .   .   .   .   .   .   .
            z/b   .   .   .   .   .   .   .   .   .
            z/c   .   .   .   .   .   .   .   .   .
            """));
    }
}
