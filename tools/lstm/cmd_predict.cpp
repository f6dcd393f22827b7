// lstm predict --model M --data FILE [--text-column C] [--output FILE.csv]
// Labels the rows of a CSV/TSV with a classifier trained by `lstm train --task classify`: CSV
// (line, label, probability) on stdout or to --output (task_classify.cpp computes it).
#include <memory>
#include <string>

#include "commands.h"
#include "tasks.h"

namespace lstm::cli {

void add_predict_command(CLI::App& app) {
  struct Options {
    std::string model, data, text_column, output;
  };
  auto o = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "predict", "Label the rows of a CSV/TSV with a classifier, as CSV (line, label, probability)");
  command->add_option("--model", o->model, "A text classifier trained by `lstm train`")
      ->required()
      ->type_name("PATH");
  command
      ->add_option("--data", o->data,
                   "The texts to label: a TSV or CSV with a header and the model's text column(s); "
                   "a label column is not needed")
      ->required()
      ->type_name("PATH");
  command
      ->add_option("--text-column", o->text_column,
                   "The column(s) holding the texts, comma-separated and joined by a space "
                   "(default: the model's)")
      ->type_name("COLUMN");
  command->add_option("--output", o->output, "Write the CSV here instead of stdout")->type_name("PATH");
  command->footer("Example: lstm predict --model spam.safetensors --data new_mail.tsv --output labels.csv");
  command->callback([o] { predict_classifier(o->model, o->data, o->text_column, o->output); });
}

}  // namespace lstm::cli
