import type { ChatRequestBody } from '../test/helpers/openai-test-server.ts';

/**
 * The model the explanation benchmarks put behind the local OpenAI-compatible test server: one sentence per
 * candidate, from the prompt's data, citing an evidence item when the candidate has one, like a
 * well-behaved LLM.
 */
export function explainingModel(body: ChatRequestBody): string {
  const user = String(body.messages?.find((message) => message.role === 'user')?.content);
  const data = JSON.parse(/<data>\n([\s\S]*)\n<\/data>/.exec(user)![1]!) as {
    evidence: { id: string; title: string }[];
    candidates: { id: string; title: string; genres: string[]; reasons: { evidenceItemIds: string[] }[] }[];
  };
  const titles = new Map(data.evidence.map((entry) => [entry.id, entry.title]));
  return JSON.stringify({
    explanations: data.candidates.map((candidate) => {
      const cited = candidate.reasons
        .flatMap((reason) => reason.evidenceItemIds)
        .find((id) => titles.has(id));
      return cited
        ? {
            itemId: candidate.id,
            text: `Because you finished "${titles.get(cited)}", this ${candidate.genres[0] ?? 'title'} should suit you.`,
            evidenceItemIds: [cited],
          }
        : {
            itemId: candidate.id,
            text: `A ${candidate.genres[0] ?? 'popular'} title many viewers are starting this week.`,
            evidenceItemIds: [],
          };
    }),
  });
}
