from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('plans', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PlanRecord',
            name='arrival',
            field=fields.CharField(default='on_target', max_length=32),
        ),
        ops.AddField(
            model_name='PlanRecord',
            name='lower_bound',
            field=fields.FloatField(null=True),
        ),
    ]
