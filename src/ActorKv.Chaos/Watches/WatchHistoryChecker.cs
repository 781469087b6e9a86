namespace ActorKv.Chaos.Watches;

/// <summary>One event as a watcher received it, with the response it came in (responses numbered per watcher).</summary>
public sealed record ObservedEvent(int Response, long Revision, string Key, bool IsPut, string? Value, string? PreviousValue, bool HasPrevious);

/// <summary>A progress notification a watcher received: its revision, and how many events the watcher had received before it.</summary>
public sealed record ProgressNotice(long Revision, int EventsBefore);

/// <summary>An acknowledged put: its key and value, and the revision its response named.</summary>
public sealed record AcknowledgedPut(string Key, string Value, long Revision);

/// <summary>
/// The checks etcd's watch guarantees allow on one watcher that watched every key from
/// revision 1 with prev_kv (resuming after a broken stream from its last revision + 1, as
/// etcd's client does): revisions never go back and no revision arrives twice; all events of one
/// revision came in one response; no revision between the first and the last is missing (every
/// write of the workload makes a revision with at least one event); each prev_kv is the value
/// the watcher saw last for the key; each acknowledged put up to the last revision seen is there
/// with its value. Pure: the runner records, this judges.
/// </summary>
public static class WatchHistoryChecker
{
    public static IReadOnlyList<string> Check(IReadOnlyList<ObservedEvent> events, IReadOnlyList<AcknowledgedPut> acknowledged, long firstRevision)
    {
        var violations = new List<string>();
        var responseOfRevision = new Dictionary<long, int>();
        var lastValue = new Dictionary<string, string?>();
        long previousRevision = 0;
        foreach (var observed in events)
        {
            if (observed.Revision < previousRevision)
            {
                violations.Add($"revision {observed.Revision} came after {previousRevision}");
            }

            if (responseOfRevision.TryGetValue(observed.Revision, out var response))
            {
                if (response != observed.Response)
                {
                    violations.Add($"events of revision {observed.Revision} came in responses {response} and {observed.Response} (split, or sent twice)");
                }
            }
            else
            {
                responseOfRevision[observed.Revision] = observed.Response;
                if (previousRevision != 0 && observed.Revision > previousRevision + 1)
                {
                    violations.Add($"revisions {previousRevision + 1} to {observed.Revision - 1} are missing");
                }
                else if (previousRevision == 0 && observed.Revision > firstRevision)
                {
                    violations.Add($"revisions {firstRevision} to {observed.Revision - 1} are missing at the start");
                }
            }

            if (observed.IsPut && lastValue.TryGetValue(observed.Key, out var before) && before is not null)
            {
                if (!observed.HasPrevious || observed.PreviousValue != before)
                {
                    violations.Add($"prev_kv of {observed.Key} at revision {observed.Revision} is {(observed.HasPrevious ? observed.PreviousValue : "absent")}, the watcher last saw {before}");
                }
            }
            else if (observed.IsPut && observed.HasPrevious)
            {
                violations.Add($"prev_kv of {observed.Key} at revision {observed.Revision} is {observed.PreviousValue}, but the key did not exist");
            }

            lastValue[observed.Key] = observed.IsPut ? observed.Value : null;
            previousRevision = Math.Max(previousRevision, observed.Revision);
        }

        var byRevision = events.GroupBy(e => e.Revision).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var put in acknowledged.Where(p => p.Revision <= previousRevision))
        {
            if (!byRevision.TryGetValue(put.Revision, out var atRevision) || !atRevision.Any(e => e.IsPut && e.Key == put.Key && e.Value == put.Value))
            {
                violations.Add($"acknowledged put {put.Key}={put.Value} at revision {put.Revision} is not in the watch history");
            }
        }

        return violations;
    }

    /// <summary>
    /// etcd's bookmark: a progress notification at revision R tells a synced watcher that every
    /// event up to R has been sent. So no event up to R may arrive after it, and none after R
    /// before it.
    /// </summary>
    public static IReadOnlyList<string> CheckProgress(IReadOnlyList<ObservedEvent> events, IEnumerable<ProgressNotice> notices)
    {
        var violations = new List<string>();
        foreach (var notice in notices)
        {
            if (events.Skip(notice.EventsBefore).FirstOrDefault(e => e.Revision <= notice.Revision) is { } late)
            {
                violations.Add($"progress notification at revision {notice.Revision}, then an event of revision {late.Revision}");
            }

            if (events.Take(notice.EventsBefore).LastOrDefault() is { } last && last.Revision > notice.Revision)
            {
                violations.Add($"progress notification at revision {notice.Revision} after an event of revision {last.Revision}");
            }
        }

        return violations;
    }
}
